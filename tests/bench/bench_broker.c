/*  bench_broker: the bus side by side with RabbitMQ (issue 9, point 15).

        make bench
        build/plain/bench/bench_broker [--seconds S] [--clients N] [--bytes B]
                                       [--pipeline W] [--credit C]
                                       [--queue classic,classic-v2,quorum]
                                       [--only rabbitmq|lantern]

    One run measures both, on the same machine, with the same message size
    (--bytes, default 1000: the most a PostNotice carries), the same number
    of concurrent publishers (--clients, default 64) driven the same way,
    and the same durability (a message counts once it is on disk):

    RabbitMQ (Debian's rabbitmq-server, started here as a private child and
    removed afterwards; see "The private broker" below)
      publish   --clients connections, each with a channel in confirm mode,
                publish persistent messages (delivery_mode 2) to a durable
                queue (--queue: by default a classic queue, 3.10's
                default type, then a quorum queue), each waiting for its
                publisher confirm before the next (one outstanding, as a
                Lantern client waits for its reply).  Nobody consumes
                meanwhile, so every confirm is given after the broker has
                written and fsynced the message (a classic queue confirms
                a message early, without writing it, when a consumer has
                already acknowledged it).
      consume   one consumer (basic.qos prefetch --credit, manual acks)
                drains the queue, acknowledging with `multiple` once per
                batch: whenever it has read everything that had arrived, or
                half the prefetch.
    Lantern (tests/progs/busnode: a node in its own process, against a
    throwaway PostgreSQL with fsync and synchronous_commit on)
      publish   --clients CURVE clients, as principal `op`, call PostNotice
                with a text of --bytes, each waiting for its reply before
                the next.  PostNotice is a staged command: a batch of them
                (group commit, batch_max 256) is one transaction holding the
                events, the stored replies and the audit rows, and each
                reply leaves after that commit.
      consume   one ln_consumer (credit --credit) follows the node's stream
                from position 0 and commits its cursor in one PostgreSQL
                transaction per batch (its apply writes nothing else).
    Both are then done again pipelined (--pipeline W, default 16; 0: not):
    W messages outstanding per publisher, confirms / replies taken as they
    come.  Clearly a different figure: labelled "pipelined".  The broker and
    PostgreSQL are started first; in each window the Lantern run comes
    between the RabbitMQ runs it is compared with, so that the load of a
    shared machine changes as little as possible between them.

    Each publish run is counted over --seconds (default 8) after a 1 s
    warm-up; then no new messages are sent and every outstanding one must
    be confirmed.  The consume run drains everything that was published.
    Every message carries its publisher and sequence number; each consumer
    checks that it received every confirmed message exactly once (RabbitMQ:
    and that the queue is empty afterwards; Lantern: that the node's log
    holds exactly the accepted notices).  The clients are driven by this
    process's one thread (as bench_intake drives its clients), for both.

    Printed per run: the rate; the CPU per message of the server side
    (beam.smp; the node's process and every process of the run's PostgreSQL
    cluster), of the clients (this process) and of the rest of the machine,
    read from /proc (tests/support/cpu_usage); then both rates side by
    side with the ratio Lantern / RabbitMQ, the rate each side's CPU per
    message would allow with every core busy (and that ratio, which
    depends less on other people's load), and the command line.  Exit
    status 0 when every run was made and every check held, 1 otherwise, 2
    on bad usage.

    The private broker
    ------------------
    A temporary directory /tmp/lantern-rabbit.XXXXXX holds its config,
    Mnesia/message-store directory, logs and Erlang cookie (HOME).  The node
    is lnbench<pid>@localhost.  It listens on 127.0.0.1 only: AMQP on a free
    port (listeners.tcp and RABBITMQ_NODE_IP_ADDRESS/PORT), Erlang
    distribution on another (RABBITMQ_DIST_PORT, and
    `-kernel inet_dist_use_interface {127,0,0,1}`), and the benchmark
    starts its own epmd on a third (`epmd -address 127.0.0.1`, found by the
    broker through ERL_EPMD_PORT; epmd adds ::1 itself).  No plugins.  After
    start-up the benchmark reads the listening sockets of both processes
    from /proc and refuses to go on if any is not on loopback.  As root it
    runs epmd and the broker as the `rabbitmq` user (the package makes it).
    The broker is the benchmark's direct child (the script ends in `exec
    erl`): it dies with the benchmark (PR_SET_PDEATHSIG; also, its stdin
    is a pipe from us, and the Erlang shell halts on its end-of-file).
    SIGINT/SIGTERM/SIGHUP stop every run; the broker gets SIGTERM (SIGKILL
    after 30 s), epmd too, and the directory is removed.  Only a SIGKILL of
    the benchmark leaves the directory behind.

    Environment: LANTERN_TEST_PGHOST (use a running cluster; otherwise
    pg_fixture starts a throwaway one with deploy/pg-local),
    LANTERN_SOURCE_DIR, LANTERN_BUSNODE (default ../progs/busnode beside
    this binary), LANTERN_RABBITMQ_SERVER (default
    /usr/lib/rabbitmq/bin/rabbitmq-server), LANTERN_EPMD (default
    /usr/bin/epmd), LANTERN_BENCH_KEEP=1 (keep the broker's directory and
    logs, for a look afterwards).
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <czmq.h>

#include "bus_fixture.h"
#include "cpu_usage.h"
#include "lantern.pb-c.h"
#include "ln_clock.h"
#include "ln_consumer.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_log.h"
#include "pg_fixture.h"
#include "proc_child.h"
#include "wire.pb-c.h"

#define NOTICE_TYPE     "nl.lantern.notice.posted.v1"
#define NOTICE_MAX      1000 /* PostNotice's text limit (ln_server.c) */
#define HEADER_LEN      15   /* "PPPP SSSSSSSSS ": publisher and sequence number */
#define WINDOW_MAX      64   /* messages outstanding per publisher */
#define WARMUP_MS       1000
#define TAIL_MS         30000 /* after the window: every outstanding message answered */
#define STALL_MS        30000 /* a publisher without progress for this long failed */
#define DRAIN_MS        180000
#define BROKER_READY_MS 120000
#define BROKER_STOP_MS  30000
#define QUEUE           "lantern-bench"
#define NODE_SCHEMA     "node"
#define CONS_SCHEMA     "cons"
#define NQUEUES         3

/* RabbitMQ's durable queue types: a classic queue of version 1 (3.10's
   default: confirms after an fsync of the queue index journal, which holds
   messages under 4 kB), of version 2 (new in 3.10: its confirms follow a
   write(2) to the page cache, with no fsync, so it is not measured by
   default), and a quorum queue (Raft; on one node, confirms after an
   fdatasync of its write-ahead log).  The fsyncs were seen with strace on
   3.10.8; see docs/benchmarks.md. */
static const char *const s_queue_names[NQUEUES] = {"classic", "classic-v2", "quorum"};
static const char *const s_queue_labels[NQUEUES] = {
    "classic queue (version 1, the default)",
    "classic queue version 2 (3.10: confirms WITHOUT fsync)", "quorum queue"};

static volatile sig_atomic_t s_stop;

static void
s_on_signal (int sig)
{
    (void)sig;
    s_stop = 1;
}

/* --- options, results ------------------------------------------------------------ */

typedef struct {
    double seconds;
    int clients;
    int bytes;
    int pipeline;
    int credit;
    bool queues[NQUEUES]; /* which of s_queue_names to measure */
    bool rabbit, lantern;
} options_t;

/* One measured run: its rate and where the CPU went (µs per message). */
typedef struct {
    bool made;       /* the run happened and its checks held */
    double rate;     /* messages per second */
    long count;      /* messages in the measured window (publish) or drained (consume) */
    double wall;     /* seconds */
    double server;   /* beam.smp; the node's process */
    double pg;       /* PostgreSQL (Lantern only) */
    double clients;  /* this process */
    double rest;     /* everything else on the machine */
    double busy_pct; /* of all cores */
    bool cpu_ok;
    char note[256]; /* what was checked, printed after the figures */
} run_t;

typedef struct {
    run_t publish, consume, publish_pipe, consume_pipe;
} variant_t;

typedef struct {
    variant_t v[NQUEUES]; /* RabbitMQ: per queue type; Lantern: v[0] */
    char version[128];    /* "RabbitMQ 3.10.8 on Erlang/OTP 25.2.3", "PostgreSQL 15.18 ..." */
} side_t;

/* --- CPU --------------------------------------------------------------------------- */

typedef struct {
    pid_t server;       /* beam.smp or busnode */
    const char *pg_dir; /* the PostgreSQL cluster's directory, or NULL */
} parts_t;

typedef struct {
    double server, pg, self, busy;
} cpu_t;

static void
s_cpu_read (const parts_t *p, cpu_t *c)
{
    c->server = cpu_pid (p->server);
    c->pg = p->pg_dir ? cpu_pg_cluster (p->pg_dir) : 0;
    c->self = cpu_self ();
    c->busy = cpu_machine_busy ();
}

/* Fill a run's CPU figures from readings at its start and end. */
static void
s_cpu_per (run_t *r, const cpu_t *c0, const cpu_t *c1, long messages, double wall)
{
    r->cpu_ok = false;
    if (messages <= 0 || wall <= 0 || c0->server < 0 || c1->server < 0 || c0->pg < 0 ||
        c1->pg < 0 || c0->busy < 0 || c1->busy < 0)
        return;
    double per = 1e6 / (double)messages;
    r->server = (c1->server - c0->server) * per;
    r->pg = (c1->pg - c0->pg) * per;
    r->clients = (c1->self - c0->self) * per;
    double busy = (c1->busy - c0->busy) * per;
    r->rest = busy - r->server - r->pg - r->clients;
    if (r->rest < 0)
        r->rest = 0;
    r->busy_pct = 100.0 * (c1->busy - c0->busy) / wall / (double)sysconf (_SC_NPROCESSORS_ONLN);
    r->cpu_ok = true;
}

static void
s_print_run (const char *label, const run_t *r, bool with_pg)
{
    /* the rest of the machine also as cores: other people's load, noise */
    double others = r->rest * r->rate / 1e6;
    if (!r->made)
        printf ("  %-26s not made (see above)\n", label);
    else
        printf ("  %-26s %8.0f msgs/s  (%ld messages in %.2f s)\n", label, r->rate, r->count,
                r->wall);
    if (r->made && r->cpu_ok && with_pg)
        printf ("  %-26s CPU per message: node %.0f us + PostgreSQL %.0f us = %.0f us server side, "
                "clients %.0f us, rest of machine %.0f us (%.1f cores); machine busy %.0f%%\n",
                "", r->server, r->pg, r->server + r->pg, r->clients, r->rest, others, r->busy_pct);
    else if (r->made && r->cpu_ok)
        printf ("  %-26s CPU per message: broker %.0f us server side, clients %.0f us, rest of "
                "machine %.0f us (%.1f cores); machine busy %.0f%%\n",
                "", r->server, r->clients, r->rest, others, r->busy_pct);
    if (r->note[0])
        printf ("  %-26s %s\n", "", r->note);
}

/* --- messages ---------------------------------------------------------------------- */

/* The message: "PPPP SSSSSSSSS " (publisher, sequence number) and filler
   text up to `bytes`.  out has room for bytes + 1. */
static void
s_message (char *out, int bytes, int publisher, long seq)
{
    static const char filler[] = "Lantern bench: the same message for both sides. ";
    snprintf (out, (size_t)bytes + 1, "%04d %09ld ", publisher, seq);
    for (int i = HEADER_LEN; i < bytes; i++)
        out[i] = filler[(size_t)(i - HEADER_LEN) % (sizeof filler - 1)];
    out[bytes] = '\0';
}

/* Seen: which (publisher, sequence) a consumer received, to prove every
   confirmed message arrived exactly once. */
typedef struct {
    int n;
    long *sent;     /* per publisher: messages confirmed (sequence 0 .. sent-1) */
    uint8_t **bits; /* per publisher: received */
    long total, dup, bad;
} seen_t;

static seen_t *
s_seen_new (int n, const long *sent)
{
    seen_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->n = n;
    self->sent = calloc ((size_t)n, sizeof *self->sent);
    self->bits = calloc ((size_t)n, sizeof *self->bits);
    if (!self->sent || !self->bits)
        abort ();
    for (int i = 0; i < n; i++) {
        self->sent[i] = sent[i];
        self->bits[i] = calloc ((size_t)sent[i] / 8 + 1, 1);
        if (!self->bits[i])
            abort ();
    }
    return self;
}

static void
s_seen_destroy (seen_t **self_p)
{
    seen_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->n; i++)
        free (self->bits[i]);
    free (self->bits);
    free (self->sent);
    free (self);
    *self_p = NULL;
}

/* Mark one received message (`len` bytes, expected `bytes`). */
static void
s_seen_mark (seen_t *self, const char *body, size_t len, int bytes)
{
    self->total++;
    char head[HEADER_LEN + 1];
    if (len != (size_t)bytes || len < HEADER_LEN) {
        self->bad++;
        return;
    }
    memcpy (head, body, HEADER_LEN);
    head[HEADER_LEN] = '\0';
    char *end = NULL;
    long p = strtol (head, &end, 10);
    long seq = end && *end == ' ' ? strtol (end + 1, &end, 10) : -1;
    if (p < 0 || p >= self->n || seq < 0 || seq >= self->sent[p] || !end || *end != ' ') {
        self->bad++;
        return;
    }
    uint8_t bit = (uint8_t)(1u << (seq % 8));
    if (self->bits[p][seq / 8] & bit)
        self->dup++;
    self->bits[p][seq / 8] |= bit;
}

/* Missing: confirmed but not received. */
static long
s_seen_missing (const seen_t *self)
{
    long missing = 0;
    for (int p = 0; p < self->n; p++)
        for (long s = 0; s < self->sent[p]; s++)
            if (!(self->bits[p][s / 8] & (1u << (s % 8))))
                missing++;
    return missing;
}

/* --- the closed-loop publisher driver (both sides) ------------------------------------ */

/* A side's publishers, as the driver sees them.  send: send publisher i's
   next message (0 / -1).  take: read what has arrived for publisher i,
   adding confirmed / refused messages to *ok / *bad (0, or -1 when the
   connection broke).  buffered: publisher i holds data already read from
   its socket (poll would not see it). */
typedef struct {
    int n, window;
    zmq_pollitem_t *items;
    int (*send) (void *arg, int i);
    int (*take) (void *arg, int i, long *ok, long *bad);
    bool (*buffered) (void *arg, int i);
    void *arg;
} driver_t;

/* Drive the publishers: warm-up, the measured window of `seconds`, then
   the tail (nothing new sent, every outstanding message answered).  Fills
   r; returns 0 when every message sent was confirmed, -1 otherwise. */
static int
s_drive (const driver_t *d, const parts_t *parts, double seconds, run_t *r)
{
    int rc = -1;
    int *outstanding = calloc ((size_t)d->n, sizeof *outstanding);
    int64_t *progress = calloc ((size_t)d->n, sizeof *progress);
    if (!outstanding || !progress)
        abort ();
    memset (r, 0, sizeof *r);
    long ok = 0, bad = 0, failed = 0;
    int64_t start = ln_clock_mono_ms ();
    for (int i = 0; i < d->n; i++) {
        progress[i] = start;
        for (; outstanding[i] < d->window; outstanding[i]++)
            if (d->send (d->arg, i) != 0) {
                failed++;
                break;
            }
    }
    int64_t t0 = start + WARMUP_MS, t1 = t0 + (int64_t)(seconds * 1000), t_end = t1 + TAIL_MS;
    bool in_window = false, after = false;
    long ok0 = 0, ok1 = 0;
    int64_t w0 = 0, w1 = 0;
    cpu_t c0, c1;
    memset (&c0, 0, sizeof c0);
    memset (&c1, 0, sizeof c1);
    while (!s_stop) {
        int64_t now = ln_clock_mono_ms ();
        if (!in_window && !after && now >= t0) {
            in_window = true;
            ok0 = ok;
            w0 = now;
            s_cpu_read (parts, &c0);
        }
        if (in_window && now >= t1) {
            in_window = false;
            after = true;
            ok1 = ok;
            w1 = now;
            s_cpu_read (parts, &c1);
        }
        long open = 0;
        bool any_buffered = false;
        for (int i = 0; i < d->n; i++) {
            open += outstanding[i];
            if (outstanding[i] > 0 && d->buffered && d->buffered (d->arg, i))
                any_buffered = true;
        }
        if (after && (open == 0 || now >= t_end))
            break;
        if (zmq_poll (d->items, d->n, any_buffered ? 0 : 100) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < d->n; i++) {
            if (outstanding[i] == 0)
                continue;
            if (!(d->items[i].revents & ZMQ_POLLIN) && !(d->buffered && d->buffered (d->arg, i))) {
                if (now - progress[i] > STALL_MS) {
                    fprintf (stderr, "bench_broker: publisher %d: no answer in %d s\n", i,
                             STALL_MS / 1000);
                    failed += outstanding[i];
                    outstanding[i] = 0;
                }
                continue;
            }
            long got = 0, refused = 0;
            if (d->take (d->arg, i, &got, &refused) != 0) {
                failed += outstanding[i];
                outstanding[i] = 0;
                continue;
            }
            if (got + refused > 0)
                progress[i] = now;
            ok += got;
            bad += refused;
            outstanding[i] -= (int)(got + refused);
            if (outstanding[i] < 0)
                outstanding[i] = 0;
            while (!after && outstanding[i] < d->window) {
                if (d->send (d->arg, i) != 0) {
                    failed++;
                    break;
                }
                outstanding[i]++;
            }
        }
    }
    long left = 0;
    for (int i = 0; i < d->n; i++)
        left += outstanding[i];
    if (s_stop) {
        fprintf (stderr, "bench_broker: interrupted\n");
        goto out;
    }
    if (w1 <= w0) {
        fprintf (stderr, "bench_broker: the measured window did not close\n");
        goto out;
    }
    r->count = ok1 - ok0;
    r->wall = (double)(w1 - w0) / 1000.0;
    r->rate = (double)r->count / r->wall;
    s_cpu_per (r, &c0, &c1, r->count, r->wall);
    if (bad || failed || left) {
        fprintf (stderr,
                 "bench_broker: %ld confirmed, %ld refused (nack / error reply), %ld failed, "
                 "%ld never answered\n",
                 ok, bad, failed, left);
        goto out;
    }
    r->made = true;
    rc = 0;
out:
    free (outstanding);
    free (progress);
    return rc;
}

/* --- files and processes -------------------------------------------------------------- */

static int
s_write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f) {
        fprintf (stderr, "bench_broker: %s: %s\n", path, strerror (errno));
        return -1;
    }
    int rc = fputs (text, f) < 0 ? -1 : 0;
    if (fclose (f) != 0)
        rc = -1;
    return rc;
}

static int
s_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove (path) != 0)
        fprintf (stderr, "bench_broker: could not remove %s: %s\n", path, strerror (errno));
    return 0;
}

static void
s_rm_tree (const char *dir)
{
    if (dir && dir[0])
        nftw (dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static uid_t s_chown_uid;
static gid_t s_chown_gid;

static int
s_chown_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return lchown (path, s_chown_uid, s_chown_gid) == 0 ? 0 : -1;
}

/* Wait up to timeout_ms for `pid` to exit; true when it did (reaped). */
static bool
s_reap (pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = ln_clock_mono_ms () + timeout_ms;
    for (;;) {
        pid_t got = waitpid (pid, status, WNOHANG);
        if (got == pid || (got < 0 && errno == ECHILD))
            return true;
        if (ln_clock_mono_ms () >= deadline)
            return false;
        usleep (20 * 1000);
    }
}

/* SIGTERM, then SIGKILL after timeout_ms; reaped. */
static void
s_stop_child (pid_t *pid, int timeout_ms, const char *what)
{
    if (*pid <= 0)
        return;
    int status = 0;
    kill (*pid, SIGTERM);
    if (!s_reap (*pid, timeout_ms, &status)) {
        fprintf (stderr, "bench_broker: %s did not stop in %d s: SIGKILL\n", what,
                 timeout_ms / 1000);
        kill (*pid, SIGKILL);
        s_reap (*pid, 5000, &status);
    }
    *pid = -1;
}

/* Start argv with envp (both prepared before the fork: the child only does
   async-signal-safe calls), stdin from `stdin_fd` (or /dev/null), stdout
   and stderr to `log`, in `dir`, as uid/gid when drop, dying with us. */
static pid_t
s_spawn (char *const argv[], char *const envp[], int stdin_fd, const char *log, const char *dir,
         bool drop, uid_t uid, gid_t gid)
{
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid != 0)
        return pid; /* -1 on error */
    int in = stdin_fd >= 0 ? stdin_fd : open ("/dev/null", O_RDONLY);
    int out = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0 || dup2 (in, 0) < 0 || dup2 (out, 1) < 0 || dup2 (out, 2) < 0)
        _exit (127);
    if (chdir (dir) != 0)
        _exit (127);
    if (drop && (setgroups (0, NULL) != 0 || setgid (gid) != 0 || setuid (uid) != 0))
        _exit (127);
    /* after setuid, which clears it */
    if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
        _exit (127);
    execve (argv[0], argv, envp);
    _exit (127);
}

/* --- listening sockets ---------------------------------------------------------------- */

/* The TCP sockets `pid` listens on, as text ("127.0.0.1:5672 [::1]:4369"),
   and whether every one is on loopback.  Returns how many, -1 on error. */
static int
s_listening (pid_t pid, char *out, size_t size, bool *loopback)
{
    unsigned long inodes[512];
    int ninodes = 0, found = 0;
    char path[64];
    out[0] = '\0';
    *loopback = true;
    snprintf (path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir (path);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir (d)) && ninodes < (int)(sizeof inodes / sizeof inodes[0])) {
        char link[PATH_MAX], target[128];
        if (snprintf (link, sizeof link, "%s/%s", path, e->d_name) >= (int)sizeof link)
            continue;
        ssize_t n = readlink (link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        unsigned long inode = 0;
        if (sscanf (target, "socket:[%lu]", &inode) == 1)
            inodes[ninodes++] = inode;
    }
    closedir (d);
    for (int v6 = 0; v6 < 2; v6++) {
        snprintf (path, sizeof path, "/proc/%d/net/%s", (int)pid, v6 ? "tcp6" : "tcp");
        FILE *f = fopen (path, "r");
        if (!f)
            continue;
        char line[512];
        while (fgets (line, sizeof line, f)) {
            char addr[40];
            unsigned port = 0, state = 0;
            unsigned long inode = 0;
            if (sscanf (line, " %*d: %39[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu", addr, &port,
                        &state, &inode) != 4 ||
                state != 0x0A) /* TCP_LISTEN */
                continue;
            bool ours = false;
            for (int i = 0; i < ninodes; i++)
                ours = ours || inodes[i] == inode;
            if (!ours)
                continue;
            char text[INET6_ADDRSTRLEN] = "?";
            bool lo = false;
            if (!v6) {
                struct in_addr a;
                a.s_addr = (uint32_t)strtoul (addr, NULL, 16); /* the kernel's own byte order */
                inet_ntop (AF_INET, &a, text, sizeof text);
                lo = (ntohl (a.s_addr) >> 24) == 127;
            }
            else if (strlen (addr) == 32) {
                struct in6_addr a;
                for (int w = 0; w < 4; w++) {
                    char word[9];
                    memcpy (word, addr + 8 * w, 8);
                    word[8] = '\0';
                    uint32_t v = (uint32_t)strtoul (word, NULL, 16);
                    memcpy (&a.s6_addr[4 * w], &v, 4);
                }
                inet_ntop (AF_INET6, &a, text, sizeof text);
                lo = IN6_IS_ADDR_LOOPBACK (&a) ||
                     (IN6_IS_ADDR_V4MAPPED (&a) && a.s6_addr[12] == 127);
            }
            *loopback = *loopback && lo;
            size_t used = strlen (out);
            snprintf (out + used, size - used, "%s%s%s%s:%u", used ? " " : "", v6 ? "[" : "", text,
                      v6 ? "]" : "", port);
            found++;
        }
        fclose (f);
    }
    return found;
}

/* --- the private RabbitMQ ------------------------------------------------------------- */

typedef struct {
    char dir[64];
    char node[64];
    int amqp_port, dist_port, epmd_port;
    pid_t beam, epmd;
    int stdin_w; /* our end of the broker's stdin */
    bool drop;
    uid_t uid;
    gid_t gid;
    char version[128];
} broker_t;

static void
s_broker_stop (broker_t *b)
{
    s_stop_child (&b->beam, BROKER_STOP_MS, "the broker");
    if (b->stdin_w >= 0)
        close (b->stdin_w);
    b->stdin_w = -1;
    s_stop_child (&b->epmd, 5000, "epmd");
    const char *keep = getenv ("LANTERN_BENCH_KEEP");
    if (keep && *keep == '1')
        printf ("  broker directory kept: %s\n", b->dir);
    else
        s_rm_tree (b->dir);
    b->dir[0] = '\0';
}

static void
s_amqp_close (amqp_connection_state_t *conn_p)
{
    if (!*conn_p)
        return;
    amqp_connection_close (*conn_p, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection (*conn_p);
    *conn_p = NULL;
}

/* True when an RPC reply is normal; otherwise print why. */
static bool
s_amqp_ok (amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        fprintf (stderr, "bench_broker: %s: %s\n", what, amqp_error_string2 (r.library_error));
    else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
             r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        fprintf (stderr, "bench_broker: %s: connection closed: %.*s\n", what,
                 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    }
    else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
             r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = r.reply.decoded;
        fprintf (stderr, "bench_broker: %s: channel closed: %.*s\n", what, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
    }
    else
        fprintf (stderr, "bench_broker: %s: failed\n", what);
    return false;
}

/* A connection with channel 1 open, or NULL (quiet: the broker may still
   be starting). */
static amqp_connection_state_t
s_amqp_connect (int port, bool quiet)
{
    amqp_connection_state_t conn = amqp_new_connection ();
    amqp_socket_t *sock = conn ? amqp_tcp_socket_new (conn) : NULL;
    struct timeval tv = {5, 0};
    struct timeval rpc = {30, 0};
    if (!sock)
        goto fail;
    if (amqp_socket_open_noblock (sock, "127.0.0.1", port, &tv) != AMQP_STATUS_OK)
        goto fail;
    amqp_set_rpc_timeout (conn, &rpc);
    amqp_rpc_reply_t r =
        amqp_login (conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        if (!quiet)
            s_amqp_ok (r, "login");
        goto fail;
    }
    amqp_channel_open (conn, 1);
    if (!s_amqp_ok (amqp_get_rpc_reply (conn), "channel.open"))
        goto fail;
    return conn;
fail:
    if (conn)
        amqp_destroy_connection (conn);
    return NULL;
}

/* "product version on platform" from the server's connection properties. */
static void
s_amqp_version (amqp_connection_state_t conn, char *out, size_t size)
{
    const amqp_table_t *t = amqp_get_server_properties (conn);
    char product[64] = "?", version[32] = "?", platform[64] = "?";
    for (int i = 0; t && i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (e->value.kind != AMQP_FIELD_KIND_UTF8 && e->value.kind != AMQP_FIELD_KIND_BYTES)
            continue;
        char *dst = NULL;
        size_t cap = 0;
        if (e->key.len == 7 && memcmp (e->key.bytes, "product", 7) == 0)
            dst = product, cap = sizeof product;
        else if (e->key.len == 7 && memcmp (e->key.bytes, "version", 7) == 0)
            dst = version, cap = sizeof version;
        else if (e->key.len == 8 && memcmp (e->key.bytes, "platform", 8) == 0)
            dst = platform, cap = sizeof platform;
        if (dst)
            snprintf (dst, cap, "%.*s", (int)e->value.value.bytes.len,
                      (const char *)e->value.value.bytes.bytes);
    }
    snprintf (out, size, "%s %s on %s", product, version, platform);
}

/* Print the listening sockets of the broker and epmd; -1 when one is not
   on loopback (the run must not go on). */
static int
s_broker_check_listeners (const broker_t *b)
{
    char beam[512], epmd[256];
    bool lo_beam = false, lo_epmd = false;
    int nb = s_listening (b->beam, beam, sizeof beam, &lo_beam);
    int ne = s_listening (b->epmd, epmd, sizeof epmd, &lo_epmd);
    printf ("  listening: beam.smp %s; epmd %s; loopback only: %s\n", nb > 0 ? beam : "?",
            ne > 0 ? epmd : "?", nb > 0 && ne > 0 && lo_beam && lo_epmd ? "yes" : "NO");
    if (nb <= 0 || ne <= 0 || !lo_beam || !lo_epmd) {
        fprintf (stderr, "bench_broker: the broker listens beyond loopback (or could not be "
                         "checked): stopping\n");
        return -1;
    }
    return 0;
}

static int
s_distinct_ports (int *a, int *b, int *c)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        *a = proc_free_port ();
        *b = proc_free_port ();
        *c = proc_free_port ();
        if (*a > 0 && *b > 0 && *c > 0 && *a != *b && *b != *c && *a != *c)
            return 0;
    }
    return -1;
}

static int
s_broker_start (broker_t *b)
{
    int rc = -1;
    char path[PATH_MAX], text[1024];
    int pipefd[2] = {-1, -1};
    memset (b, 0, sizeof *b);
    b->beam = b->epmd = -1;
    b->stdin_w = -1;

    const char *server = getenv ("LANTERN_RABBITMQ_SERVER");
    const char *epmd_bin = getenv ("LANTERN_EPMD");
    if (!server || !*server)
        server = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    if (!epmd_bin || !*epmd_bin)
        epmd_bin = "/usr/bin/epmd";
    if (access (server, X_OK) != 0 || access (epmd_bin, X_OK) != 0) {
        fprintf (stderr, "bench_broker: %s or %s is missing: run deploy/install-deps.sh --bench\n",
                 server, epmd_bin);
        return -1;
    }
    snprintf (b->dir, sizeof b->dir, "/tmp/lantern-rabbit.XXXXXX");
    if (!mkdtemp (b->dir)) {
        b->dir[0] = '\0';
        perror ("bench_broker: mkdtemp");
        return -1;
    }
    snprintf (b->node, sizeof b->node, "lnbench%d@localhost", (int)getpid ());
    if (s_distinct_ports (&b->amqp_port, &b->dist_port, &b->epmd_port) != 0)
        goto out;

    snprintf (path, sizeof path, "%s/mnesia", b->dir);
    if (mkdir (path, 0700) != 0)
        goto out;
    snprintf (path, sizeof path, "%s/log", b->dir);
    if (mkdir (path, 0700) != 0)
        goto out;
    snprintf (path, sizeof path, "%s/rabbitmq.conf", b->dir);
    snprintf (text, sizeof text,
              "# the private broker of bench_broker: loopback only, guest from loopback only\n"
              "listeners.tcp.1 = 127.0.0.1:%d\n"
              "loopback_users.guest = true\n"
              "log.console = false\n"
              "log.file.level = warning\n",
              b->amqp_port);
    if (s_write_file (path, text) != 0)
        goto out;
    snprintf (path, sizeof path, "%s/enabled_plugins", b->dir);
    if (s_write_file (path, "[].\n") != 0)
        goto out;
    /* an empty environment file: /etc/rabbitmq/rabbitmq-env.conf is not read */
    snprintf (path, sizeof path, "%s/rabbitmq-env.conf", b->dir);
    if (s_write_file (path, "") != 0)
        goto out;

    /* As root: run as the rabbitmq user, who must own the directory. */
    if (geteuid () == 0) {
        struct passwd *pw = getpwnam ("rabbitmq");
        if (!pw) {
            fprintf (stderr, "bench_broker: running as root and there is no rabbitmq user\n");
            goto out;
        }
        b->drop = true;
        b->uid = pw->pw_uid;
        b->gid = pw->pw_gid;
        s_chown_uid = b->uid;
        s_chown_gid = b->gid;
        if (nftw (b->dir, s_chown_entry, 16, FTW_PHYS) != 0) {
            fprintf (stderr, "bench_broker: could not give %s to rabbitmq\n", b->dir);
            goto out;
        }
    }

    /* Everything for both children is prepared before the forks. */
    char e_home[128], e_node[96], e_conf_env[128], e_conf[128], e_mnesia[128], e_log[128],
        e_plugins[128], e_ip[64], e_port[64], e_dist[64], e_epmd_port[64], e_pid[128], e_adv[128];
    snprintf (e_home, sizeof e_home, "HOME=%s", b->dir);
    snprintf (e_node, sizeof e_node, "RABBITMQ_NODENAME=%s", b->node);
    snprintf (e_conf_env, sizeof e_conf_env, "RABBITMQ_CONF_ENV_FILE=%s/rabbitmq-env.conf", b->dir);
    snprintf (e_conf, sizeof e_conf, "RABBITMQ_CONFIG_FILE=%s/rabbitmq.conf", b->dir);
    snprintf (e_adv, sizeof e_adv, "RABBITMQ_ADVANCED_CONFIG_FILE=%s/advanced.config", b->dir);
    snprintf (e_mnesia, sizeof e_mnesia, "RABBITMQ_MNESIA_BASE=%s/mnesia", b->dir);
    snprintf (e_log, sizeof e_log, "RABBITMQ_LOG_BASE=%s/log", b->dir);
    snprintf (e_plugins, sizeof e_plugins, "RABBITMQ_ENABLED_PLUGINS_FILE=%s/enabled_plugins",
              b->dir);
    snprintf (e_pid, sizeof e_pid, "RABBITMQ_PID_FILE=%s/pid", b->dir);
    snprintf (e_ip, sizeof e_ip, "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1");
    snprintf (e_port, sizeof e_port, "RABBITMQ_NODE_PORT=%d", b->amqp_port);
    snprintf (e_dist, sizeof e_dist, "RABBITMQ_DIST_PORT=%d", b->dist_port);
    snprintf (e_epmd_port, sizeof e_epmd_port, "ERL_EPMD_PORT=%d", b->epmd_port);
    char *env[] = {
        "PATH=/usr/bin:/bin:/usr/sbin:/sbin",
        "LANG=C.UTF-8",
        e_home,
        e_node,
        e_conf_env,
        e_conf,
        e_adv,
        e_mnesia,
        e_log,
        e_plugins,
        e_pid,
        e_ip,
        e_port,
        e_dist,
        e_epmd_port,
        "ERL_EPMD_ADDRESS=127.0.0.1",
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
        /* the script then ends in `exec erl`: the broker is our child itself */
        "RABBITMQ_ALLOW_INPUT=1",
        NULL,
    };
    char epmd_port_arg[16];
    snprintf (epmd_port_arg, sizeof epmd_port_arg, "%d", b->epmd_port);
    char *epmd_argv[] = {(char *)epmd_bin, "-port", epmd_port_arg, "-address", "127.0.0.1", NULL};
    char *server_argv[] = {(char *)server, NULL};
    char epmd_log[128], server_log[128];
    snprintf (epmd_log, sizeof epmd_log, "%s/log/epmd.log", b->dir);
    snprintf (server_log, sizeof server_log, "%s/log/console.log", b->dir);

    b->epmd = s_spawn (epmd_argv, env, -1, epmd_log, b->dir, b->drop, b->uid, b->gid);
    if (b->epmd < 0)
        goto out;
    usleep (200 * 1000);
    if (pipe2 (pipefd, O_CLOEXEC) != 0)
        goto out;
    b->beam = s_spawn (server_argv, env, pipefd[0], server_log, b->dir, b->drop, b->uid, b->gid);
    close (pipefd[0]);
    b->stdin_w = pipefd[1];
    if (b->beam < 0)
        goto out;

    /* ready when a client can log in and open a channel */
    int64_t deadline = ln_clock_mono_ms () + BROKER_READY_MS;
    amqp_connection_state_t conn = NULL;
    while (!s_stop && ln_clock_mono_ms () < deadline) {
        int status = 0;
        if (waitpid (b->beam, &status, WNOHANG) == b->beam) {
            b->beam = -1;
            fprintf (stderr,
                     "bench_broker: the broker exited during start-up (status 0x%x); "
                     "see %s/log\n",
                     status, b->dir);
            goto out;
        }
        conn = s_amqp_connect (b->amqp_port, true);
        if (conn)
            break;
        usleep (250 * 1000);
    }
    if (!conn) {
        if (!s_stop)
            fprintf (stderr, "bench_broker: the broker was not ready in %d s; see %s/log\n",
                     BROKER_READY_MS / 1000, b->dir);
        goto out;
    }
    s_amqp_version (conn, b->version, sizeof b->version);
    s_amqp_close (&conn);
    rc = 0;
out:
    if (rc != 0)
        s_broker_stop (b);
    return rc;
}

/* --- RabbitMQ: publish and consume ------------------------------------------------------ */

typedef struct {
    amqp_connection_state_t *conns;
    uint64_t *next_tag; /* per publisher: the channel's next delivery tag */
    uint64_t *acked;    /* every tag <= acked is answered */
    uint64_t *pending;  /* bit k: tag acked + 1 + k answered out of order */
    long *seq;          /* messages sent */
    char *body;
    int bytes;
    amqp_basic_properties_t props;
} rabbit_pub_t;

static int
s_rabbit_send (void *arg, int i)
{
    rabbit_pub_t *p = arg;
    s_message (p->body, p->bytes, i, p->seq[i]);
    amqp_bytes_t body = {(size_t)p->bytes, p->body};
    int st = amqp_basic_publish (p->conns[i], 1, amqp_cstring_bytes (""),
                                 amqp_cstring_bytes (QUEUE), 0, 0, &p->props, body);
    if (st != AMQP_STATUS_OK) {
        fprintf (stderr, "bench_broker: publisher %d: %s\n", i, amqp_error_string2 (st));
        return -1;
    }
    p->seq[i]++;
    p->next_tag[i]++;
    return 0;
}

/* Count the tags a basic.ack / basic.nack answers (multiple: every tag up
   to it), each once. */
static long
s_rabbit_answer (rabbit_pub_t *p, int i, uint64_t tag, bool multiple)
{
    long n = 0;
    if (multiple) {
        while (p->acked[i] < tag && p->acked[i] + 1 < p->next_tag[i]) {
            if (!(p->pending[i] & 1))
                n++;
            p->pending[i] >>= 1;
            p->acked[i]++;
        }
        return n;
    }
    if (tag <= p->acked[i] || tag >= p->next_tag[i] || tag - p->acked[i] > WINDOW_MAX)
        return 0;
    uint64_t bit = (uint64_t)1 << (tag - p->acked[i] - 1);
    if (!(p->pending[i] & bit)) {
        p->pending[i] |= bit;
        n = 1;
    }
    while (p->pending[i] & 1) {
        p->pending[i] >>= 1;
        p->acked[i]++;
    }
    return n;
}

static int
s_rabbit_take (void *arg, int i, long *ok, long *bad)
{
    rabbit_pub_t *p = arg;
    amqp_connection_state_t conn = p->conns[i];
    for (;;) {
        amqp_frame_t frame;
        struct timeval zero = {0, 0};
        int st = amqp_simple_wait_frame_noblock (conn, &frame, &zero);
        if (st == AMQP_STATUS_TIMEOUT)
            break;
        if (st != AMQP_STATUS_OK) {
            fprintf (stderr, "bench_broker: publisher %d: %s\n", i, amqp_error_string2 (st));
            return -1;
        }
        if (frame.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            const amqp_basic_ack_t *a = frame.payload.method.decoded;
            *ok += s_rabbit_answer (p, i, a->delivery_tag, a->multiple);
        }
        else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            const amqp_basic_nack_t *a = frame.payload.method.decoded;
            *bad += s_rabbit_answer (p, i, a->delivery_tag, a->multiple);
        }
        else {
            fprintf (stderr, "bench_broker: publisher %d: unexpected method 0x%08x\n", i,
                     (unsigned)frame.payload.method.id);
            return -1;
        }
        amqp_maybe_release_buffers (conn);
    }
    return 0;
}

static bool
s_rabbit_buffered (void *arg, int i)
{
    rabbit_pub_t *p = arg;
    return amqp_frames_enqueued (p->conns[i]) || amqp_data_in_buffer (p->conns[i]);
}

/* (Re)declare the queue, empty. */
static int
s_rabbit_queue (int port, const char *queue)
{
    int rc = -1;
    amqp_connection_state_t conn = s_amqp_connect (port, false);
    if (!conn)
        return -1;
    amqp_queue_delete (conn, 1, amqp_cstring_bytes (QUEUE), 0, 0);
    if (!s_amqp_ok (amqp_get_rpc_reply (conn), "queue.delete"))
        goto out;
    bool quorum = strcmp (queue, "quorum") == 0;
    amqp_table_entry_t arg[2];
    arg[0].key = amqp_cstring_bytes ("x-queue-type");
    arg[0].value.kind = AMQP_FIELD_KIND_UTF8;
    arg[0].value.value.bytes = amqp_cstring_bytes (quorum ? "quorum" : "classic");
    arg[1].key = amqp_cstring_bytes ("x-queue-version");
    arg[1].value.kind = AMQP_FIELD_KIND_I32;
    arg[1].value.value.i32 = strcmp (queue, "classic-v2") == 0 ? 2 : 1;
    amqp_table_t args = {quorum ? 1 : 2, arg};
    amqp_queue_declare (conn, 1, amqp_cstring_bytes (QUEUE), 0, 1 /* durable */, 0, 0, args);
    if (!s_amqp_ok (amqp_get_rpc_reply (conn), "queue.declare"))
        goto out;
    rc = 0;
out:
    s_amqp_close (&conn);
    return rc;
}

/* Publish; fills r and sent[] (messages confirmed per publisher). */
static int
s_rabbit_publish (const broker_t *b, const options_t *o, const char *queue, int window, run_t *r,
                  long *sent)
{
    int rc = -1;
    int n = o->clients;
    rabbit_pub_t p;
    memset (&p, 0, sizeof p);
    zmq_pollitem_t *items = calloc ((size_t)n, sizeof *items);
    p.conns = calloc ((size_t)n, sizeof *p.conns);
    p.next_tag = calloc ((size_t)n, sizeof *p.next_tag);
    p.acked = calloc ((size_t)n, sizeof *p.acked);
    p.pending = calloc ((size_t)n, sizeof *p.pending);
    p.seq = calloc ((size_t)n, sizeof *p.seq);
    p.body = malloc ((size_t)o->bytes + 1);
    if (!items || !p.conns || !p.next_tag || !p.acked || !p.pending || !p.seq || !p.body)
        abort ();
    p.bytes = o->bytes;
    p.props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.props.delivery_mode = AMQP_DELIVERY_PERSISTENT;

    if (s_rabbit_queue (b->amqp_port, queue) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        p.conns[i] = s_amqp_connect (b->amqp_port, false);
        if (!p.conns[i])
            goto out;
        amqp_confirm_select (p.conns[i], 1);
        if (!s_amqp_ok (amqp_get_rpc_reply (p.conns[i]), "confirm.select"))
            goto out;
        p.next_tag[i] = 1;
        items[i].fd = amqp_get_sockfd (p.conns[i]);
        items[i].events = ZMQ_POLLIN;
    }
    driver_t d = {n, window, items, s_rabbit_send, s_rabbit_take, s_rabbit_buffered, &p};
    parts_t parts = {b->beam, NULL};
    if (s_drive (&d, &parts, o->seconds, r) != 0)
        goto out;
    long confirmed = 0;
    for (int i = 0; i < n; i++)
        confirmed += sent[i] = p.seq[i];
    snprintf (r->note, sizeof r->note,
              "%ld confirmed in all (warm-up and tail included), none refused; a body is %d bytes",
              confirmed, o->bytes);
    rc = 0;
out:
    for (int i = 0; i < n; i++)
        s_amqp_close (&p.conns[i]);
    free (items);
    free (p.conns);
    free (p.next_tag);
    free (p.acked);
    free (p.pending);
    free (p.seq);
    free (p.body);
    return rc;
}

/* Drain the queue with one consumer; every confirmed message exactly once. */
static int
s_rabbit_consume (const broker_t *b, const options_t *o, const long *sent, run_t *r)
{
    int rc = -1;
    amqp_connection_state_t conn = NULL;
    seen_t *seen = s_seen_new (o->clients, sent);
    long expect = 0, batches = 0;
    for (int i = 0; i < o->clients; i++)
        expect += sent[i];
    memset (r, 0, sizeof *r);

    conn = s_amqp_connect (b->amqp_port, false);
    if (!conn)
        goto out;
    amqp_basic_qos (conn, 1, 0, (uint16_t)o->credit, 0);
    if (!s_amqp_ok (amqp_get_rpc_reply (conn), "basic.qos"))
        goto out;
    parts_t parts = {b->beam, NULL};
    cpu_t c0, c1;
    s_cpu_read (&parts, &c0);
    int64_t t0 = ln_clock_mono_ms ();
    amqp_basic_consume (conn, 1, amqp_cstring_bytes (QUEUE), amqp_empty_bytes, 0, 0 /* acks */, 0,
                        amqp_empty_table);
    if (!s_amqp_ok (amqp_get_rpc_reply (conn), "basic.consume"))
        goto out;
    uint64_t last_tag = 0;
    long unacked = 0;
    int64_t deadline = t0 + DRAIN_MS;
    while (seen->total < expect && !s_stop && ln_clock_mono_ms () < deadline) {
        amqp_envelope_t env;
        struct timeval tv = {1, 0};
        amqp_maybe_release_buffers (conn);
        amqp_rpc_reply_t res = amqp_consume_message (conn, &env, &tv, 0);
        if (res.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            res.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (!s_amqp_ok (res, "consume"))
            goto out;
        s_seen_mark (seen, env.message.body.bytes, env.message.body.len, o->bytes);
        last_tag = env.delivery_tag;
        unacked++;
        amqp_destroy_envelope (&env);
        /* one ack per batch: everything read so far, like a cursor commit */
        if (unacked >= o->credit / 2 || seen->total == expect ||
            (!amqp_frames_enqueued (conn) && !amqp_data_in_buffer (conn))) {
            if (amqp_basic_ack (conn, 1, last_tag, 1) != AMQP_STATUS_OK) {
                fprintf (stderr, "bench_broker: basic.ack failed\n");
                goto out;
            }
            unacked = 0;
            batches++;
        }
    }
    /* a synchronous call on the channel: the acks before it are processed */
    amqp_queue_declare_ok_t *q =
        amqp_queue_declare (conn, 1, amqp_cstring_bytes (QUEUE), 1, 1, 0, 0, amqp_empty_table);
    int64_t t1 = ln_clock_mono_ms ();
    s_cpu_read (&parts, &c1);
    if (!q || !s_amqp_ok (amqp_get_rpc_reply (conn), "queue.declare passive"))
        goto out;
    long missing = s_seen_missing (seen);
    r->count = seen->total;
    r->wall = (double)(t1 - t0) / 1000.0;
    r->rate = r->wall > 0 ? (double)r->count / r->wall : 0;
    s_cpu_per (r, &c0, &c1, r->count, r->wall);
    snprintf (r->note, sizeof r->note,
              "%ld received in %ld acks (multiple), %ld missing, %ld duplicates, %ld malformed; "
              "ready in the queue after: %u",
              seen->total, batches, missing, seen->dup, seen->bad, (unsigned)q->message_count);
    if (missing || seen->dup || seen->bad || q->message_count != 0 || seen->total != expect)
        goto out;
    r->made = true;
    rc = 0;
out:
    s_amqp_close (&conn);
    s_seen_destroy (&seen);
    return rc;
}

/* One RabbitMQ variant: a fresh queue of type q, publish with `window`
   outstanding per publisher, then drain it. */
static int
s_rabbit_variant (const broker_t *b, const options_t *o, int q, int window, run_t *pub, run_t *cons)
{
    int rc = -1;
    long *sent = calloc ((size_t)o->clients, sizeof *sent);
    if (!sent)
        abort ();
    char label[80];
    printf ("  -- RabbitMQ, %s: durable; persistent messages (delivery_mode 2)\n",
            s_queue_labels[q]);
    if (window > 1)
        snprintf (label, sizeof label, "pipelined publish (%d)", window);
    else
        snprintf (label, sizeof label, "publish, confirm each");
    if (s_rabbit_publish (b, o, s_queue_names[q], window, pub, sent) != 0)
        goto out;
    s_print_run (label, pub, false);
    if (s_rabbit_consume (b, o, sent, cons) != 0)
        goto out;
    s_print_run ("consume, ack per batch", cons, false);
    rc = 0;
out:
    free (sent);
    return rc;
}

/* --- Lantern: publish and consume ------------------------------------------------------- */

typedef struct {
    ln_client_t **clients;
    long *seq;
    char *text;
    int bytes;
    char rid[48];
    Lantern__V1__PostNotice post;
    Lantern__V1__Request req;
    Lantern__V1__ClientMessage msg;
} lantern_pub_t;

static int
s_lantern_send (void *arg, int i)
{
    lantern_pub_t *p = arg;
    s_message (p->text, p->bytes, i, p->seq[i]);
    snprintf (p->rid, sizeof p->rid, "bench-%d-%ld", i, p->seq[i]);
    p->req.request_id = p->rid;
    ln_error_t err;
    if (ln_client_send (p->clients[i], &p->msg, &err) != 0) {
        fprintf (stderr, "bench_broker: client %d: %s\n", i, err.message);
        return -1;
    }
    p->seq[i]++;
    return 0;
}

static int
s_lantern_take (void *arg, int i, long *ok, long *bad)
{
    lantern_pub_t *p = arg;
    for (;;) {
        ln_error_t err;
        Lantern__V1__ServerMessage *m = ln_client_recv (p->clients[i], 0, &err);
        if (!m)
            break;
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY) {
            if (m->reply->status == LANTERN__V1__REPLY__STATUS__OK)
                (*ok)++;
            else {
                (*bad)++;
                fprintf (stderr, "bench_broker: client %d: refused: %s\n", i,
                         m->reply->error ? m->reply->error->message : "?");
            }
        }
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    return 0;
}

typedef struct {
    seen_t *seen;
    int bytes;
    long batches, other;
} lantern_apply_t;

/* The consumer's apply: check and count the notices; the transaction then
   only moves the cursor. */
static int
s_lantern_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
                 const uint64_t *positions, size_t count, ln_error_t *err)
{
    (void)db;
    (void)upstream;
    (void)positions;
    (void)err;
    lantern_apply_t *a = arg;
    for (size_t i = 0; i < count; i++) {
        if (strcmp (ln_event_type (events[i]), NOTICE_TYPE) != 0) {
            a->other++;
            continue;
        }
        const Lantern__V1__Notice *n = (const Lantern__V1__Notice *)ln_event_payload (events[i]);
        const char *text = n && n->text ? n->text : "";
        s_seen_mark (a->seen, text, strlen (text), a->bytes);
    }
    a->batches++;
    return 0;
}

typedef struct {
    ln_pgfix_t *pg;
    bus_keys_t *keys;
    proc_child_t *node;
    char endpoint[128];
    char server_key[64];
    const char *node_conninfo;
    char log[PATH_MAX];
    char dir[64];
} lantern_t;

static long
s_count (lantern_t *l, const char *sql)
{
    char *v = ln_pgfix_query_value (l->pg, sql, 0, NULL);
    long n = -1;
    if (v) {
        char *end = NULL;
        n = strtol (v, &end, 10);
        if (end == v)
            n = -1;
    }
    free (v);
    return n;
}

/* A fresh node (own schema, own role) in its own process. */
static int
s_lantern_node_start (lantern_t *l, const char *busnode, int run)
{
    char schema[32], node[32];
    snprintf (schema, sizeof schema, NODE_SCHEMA "%d", run);
    snprintf (node, sizeof node, "bench-node-%d", run);
    l->node_conninfo = ln_pgfix_create_role (l->pg, schema, schema);
    if (!l->node_conninfo)
        return -1;
    char cert[PATH_MAX];
    snprintf (cert, sizeof cert, "%s", bus_keys_secret (l->keys, "producer"));
    snprintf (l->log, sizeof l->log, "%s/%s.log", l->dir, node);
    const char *argv[] = {busnode,
                          "--node",
                          node,
                          "--endpoint",
                          "tcp://127.0.0.1:*",
                          "--db",
                          l->node_conninfo,
                          "--schema",
                          schema,
                          "--cert",
                          cert,
                          "--registry",
                          bus_keys_registry (l->keys),
                          "--rule",
                          "follower," NOTICE_TYPE ",full",
                          "--log-level",
                          "warn",
                          NULL};
    l->node = proc_child_start ((char *const *)argv, l->log, NULL);
    if (!l->node ||
        proc_child_wait_line (l->node, "ready ", l->endpoint, sizeof l->endpoint, 30000) != 0) {
        fprintf (stderr, "bench_broker: busnode did not start; see %s\n", l->log);
        return -1;
    }
    return 0;
}

static int
s_lantern_node_stop (lantern_t *l)
{
    if (!l->node)
        return 0;
    int status = -1;
    proc_child_signal (l->node, SIGTERM);
    int rc = proc_child_wait (l->node, 20000, &status) == 0 && WIFEXITED (status) &&
                     WEXITSTATUS (status) == 0
                 ? 0
                 : -1;
    proc_child_destroy (&l->node);
    return rc;
}

static int
s_lantern_publish (lantern_t *l, const options_t *o, int window, const char *schema, run_t *r,
                   long *sent)
{
    int rc = -1;
    int n = o->clients;
    lantern_pub_t p;
    memset (&p, 0, sizeof p);
    zmq_pollitem_t *items = calloc ((size_t)n, sizeof *items);
    p.clients = calloc ((size_t)n, sizeof *p.clients);
    p.seq = calloc ((size_t)n, sizeof *p.seq);
    p.text = malloc ((size_t)o->bytes + 1);
    if (!items || !p.clients || !p.seq || !p.text)
        abort ();
    p.bytes = o->bytes;
    lantern__v1__post_notice__init (&p.post);
    p.post.text = p.text;
    lantern__v1__request__init (&p.req);
    p.req.command_case = LANTERN__V1__REQUEST__COMMAND_POST_NOTICE;
    p.req.post_notice = &p.post;
    lantern__v1__client_message__init (&p.msg);
    p.msg.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    p.msg.request = &p.req;

    zcert_t *cert = bus_keys_cert (l->keys, "op");
    if (!cert)
        goto out;
    for (int i = 0; i < n; i++) {
        ln_error_t err;
        p.clients[i] = ln_client_new (l->endpoint, l->server_key, cert, &err);
        if (!p.clients[i]) {
            fprintf (stderr, "bench_broker: client: %s\n", err.message);
            goto out;
        }
        items[i].socket = zsock_resolve (ln_client_socket (p.clients[i]));
        items[i].events = ZMQ_POLLIN;
    }
    /* the size of a request as packed (before CURVE), for the report */
    s_message (p.text, p.bytes, 0, 0);
    p.req.request_id = "bench-0-0";
    size_t request_size = lantern__v1__client_message__get_packed_size (&p.msg);
    /* let every client finish its CURVE handshake before the clock runs */
    usleep (500 * 1000);
    driver_t d = {n, window, items, s_lantern_send, s_lantern_take, NULL, &p};
    parts_t parts = {proc_child_pid (l->node), ln_pgfix_cluster_dir (l->pg)};
    if (s_drive (&d, &parts, o->seconds, r) != 0)
        goto out;
    long accepted = 0;
    for (int i = 0; i < n; i++)
        accepted += sent[i] = p.seq[i];
    char sql[160];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM %s.outbox WHERE type = '" NOTICE_TYPE "'",
              schema);
    long stored = s_count (l, sql);
    snprintf (r->note, sizeof r->note,
              "%ld accepted in all (warm-up and tail included), %ld notices in the node's log; "
              "a request is %zu bytes packed",
              accepted, stored, request_size);
    if (stored != accepted) {
        r->made = false;
        goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < n; i++)
        ln_client_destroy (&p.clients[i]);
    zcert_destroy (&cert);
    free (items);
    free (p.clients);
    free (p.seq);
    free (p.text);
    return rc;
}

/* Follow the node's stream from 0 with one ln_consumer until every event
   is applied; every accepted notice exactly once. */
static int
s_lantern_consume (lantern_t *l, const options_t *o, const char *node_schema, const char *node,
                   int run, const long *sent, run_t *r)
{
    int rc = -1;
    ln_db_t *db = NULL;
    ln_consumer_t *consumer = NULL;
    zcert_t *cert = NULL;
    lantern_apply_t a = {s_seen_new (o->clients, sent), o->bytes, 0, 0};
    ln_error_t err;
    ln_error_clear (&err);
    memset (r, 0, sizeof *r);
    long expect = 0;
    for (int i = 0; i < o->clients; i++)
        expect += sent[i];

    /* every event stamped: the consumer's target is the log's head */
    char sql[160], schema[32];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM %s.outbox WHERE position IS NULL",
              node_schema);
    for (int i = 0; i < 100 && s_count (l, sql) != 0; i++)
        usleep (100 * 1000);
    snprintf (sql, sizeof sql, "SELECT coalesce(max(position), 0) FROM %s.outbox", node_schema);
    long target = s_count (l, sql);
    if (target <= 0)
        goto out;

    snprintf (schema, sizeof schema, CONS_SCHEMA "%d", run);
    const char *conninfo = ln_pgfix_create_role (l->pg, schema, schema);
    if (!conninfo)
        goto out;
    db = ln_db_connect (conninfo, schema, NULL, &err);
    if (!db || ln_db_migrate (db, &ln_consumer_migration, 1, &err) != 0)
        goto out;
    cert = bus_keys_cert (l->keys, "consumer");
    if (!cert)
        goto out;
    ln_consumer_config_t cc = {
        .upstream = node,
        .endpoint = l->endpoint,
        .server_public_key = l->server_key,
        .cert = cert,
        .credit = (uint32_t)o->credit,
    };
    parts_t parts = {proc_child_pid (l->node), ln_pgfix_cluster_dir (l->pg)};
    cpu_t c0, c1;
    s_cpu_read (&parts, &c0);
    int64_t t0 = ln_clock_mono_ms ();
    consumer = ln_consumer_new (&cc, db, s_lantern_apply, &a, &err);
    if (!consumer)
        goto out;
    zmq_pollitem_t item = {zsock_resolve (ln_consumer_socket (consumer)), 0, ZMQ_POLLIN, 0};
    int64_t deadline = t0 + DRAIN_MS;
    while (ln_consumer_position (consumer) < (uint64_t)target && !s_stop) {
        if (ln_clock_mono_ms () > deadline) {
            fprintf (stderr, "bench_broker: the consumer timed out at position %lu of %ld\n",
                     (unsigned long)ln_consumer_position (consumer), target);
            goto out;
        }
        ln_consumer_state_t state = ln_consumer_state (consumer);
        if (state == LN_CONSUMER_RESET || state == LN_CONSUMER_POISONED) {
            fprintf (stderr, "bench_broker: consumer stopped: %s\n",
                     ln_consumer_state_name (state));
            goto out;
        }
        int timeout = ln_consumer_next_timeout_ms (consumer, zclock_mono ());
        if (timeout < 0 || timeout > 100)
            timeout = 100;
        item.revents = 0;
        if (zmq_poll (&item, 1, timeout) < 0 && errno != EINTR)
            goto out;
        if (item.revents & ZMQ_POLLIN)
            ln_consumer_on_readable (consumer);
        ln_consumer_on_tick (consumer, zclock_mono ());
    }
    if (s_stop)
        goto out;
    int64_t t1 = ln_clock_mono_ms ();
    s_cpu_read (&parts, &c1);
    long missing = s_seen_missing (a.seen);
    r->count = target;
    r->wall = (double)(t1 - t0) / 1000.0;
    r->rate = r->wall > 0 ? (double)r->count / r->wall : 0;
    s_cpu_per (r, &c0, &c1, r->count, r->wall);
    snprintf (r->note, sizeof r->note,
              "%ld events (%ld notices, %ld others) in %ld transactions with the cursor, %ld "
              "missing, %ld duplicates, %ld malformed",
              target, a.seen->total, a.other, a.batches, missing, a.seen->dup, a.seen->bad);
    if (missing || a.seen->dup || a.seen->bad || a.seen->total != expect)
        goto out;
    r->made = true;
    rc = 0;
out:
    if (rc != 0 && err.code)
        fprintf (stderr, "bench_broker: consumer: %s %s\n", err.code, err.message);
    ln_consumer_destroy (&consumer);
    ln_db_destroy (&db);
    zcert_destroy (&cert);
    s_seen_destroy (&a.seen);
    return rc;
}

/* One Lantern variant on a fresh node: publish with `window`, then drain. */
static int
s_lantern_variant (lantern_t *l, const options_t *o, const char *busnode, int run, int window,
                   run_t *pub, run_t *cons)
{
    int rc = -1;
    long *sent = calloc ((size_t)o->clients, sizeof *sent);
    if (!sent)
        abort ();
    char schema[32], node[32], label[64];
    snprintf (schema, sizeof schema, NODE_SCHEMA "%d", run);
    snprintf (node, sizeof node, "bench-node-%d", run);
    printf ("  -- Lantern, PostNotice (staged: group commit, batch_max 256), node %s\n", node);
    if (s_lantern_node_start (l, busnode, run) != 0)
        goto out;
    if (window > 1)
        snprintf (label, sizeof label, "pipelined commands (%d)", window);
    else
        snprintf (label, sizeof label, "commands, reply each");
    if (s_lantern_publish (l, o, window, schema, pub, sent) != 0)
        goto out;
    s_print_run (label, pub, true);
    if (s_lantern_consume (l, o, schema, node, run, sent, cons) != 0)
        goto out;
    s_print_run ("stream, cursor per batch", cons, true);
    rc = 0;
out:
    if (s_lantern_node_stop (l) != 0) {
        fprintf (stderr, "bench_broker: busnode did not stop cleanly; see %s\n", l->log);
        rc = -1;
    }
    free (sent);
    return rc;
}

static void
s_lantern_teardown (lantern_t *l)
{
    s_lantern_node_stop (l);
    bus_keys_destroy (&l->keys);
    ln_pgfix_destroy (&l->pg);
    s_rm_tree (l->dir);
    l->dir[0] = '\0';
}

/* PostgreSQL (pg_fixture) and the key pairs, for every Lantern variant. */
static int
s_lantern_setup (lantern_t *l, char *version, size_t size)
{
    memset (l, 0, sizeof *l);
    snprintf (l->dir, sizeof l->dir, "/tmp/lantern-bench-broker.XXXXXX");
    if (!mkdtemp (l->dir)) {
        l->dir[0] = '\0';
        return -1;
    }
    l->pg = ln_pgfix_new ("bench_broker");
    l->keys = bus_keys_new ();
    if (!l->pg || !l->keys)
        goto fail;
    if (bus_keys_add (l->keys, "producer", "node", "geheim", false) != 0 ||
        bus_keys_add (l->keys, "consumer", "follower", "intern", true) != 0 ||
        bus_keys_add (l->keys, "op", "operator", "intern", true) != 0)
        goto fail;
    const char *z85 = bus_keys_public_z85 (l->keys, "producer");
    if (!z85)
        goto fail;
    snprintf (l->server_key, sizeof l->server_key, "%s", z85);
    char *v = ln_pgfix_query_value (
        l->pg,
        "SELECT 'PostgreSQL ' || current_setting('server_version') || ' (fsync ' || "
        "current_setting('fsync') || ', synchronous_commit ' || "
        "current_setting('synchronous_commit') || ')'",
        0, NULL);
    snprintf (version, size, "%s", v ? v : "PostgreSQL ?");
    free (v);
    return 0;
fail:
    s_lantern_teardown (l);
    return -1;
}

/* --- main ------------------------------------------------------------------------------ */

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: bench_broker [--seconds S] [--clients N] [--bytes B] [--pipeline W] "
             "[--credit C] [--queue classic,classic-v2,quorum] [--only rabbitmq|lantern]\n");
}

static int
s_number (const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf (stderr, "bench_broker: '%s' is not a number in %ld..%ld\n", text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* The rate that a run's CPU per message (server side and clients) would
   allow with every core busy: a figure less at the mercy of the other
   processes on a shared machine than the rate itself. */
static double
s_ceiling (const run_t *r)
{
    double us = r->server + r->pg + r->clients;
    return r->cpu_ok && us > 0 ? (double)sysconf (_SC_NPROCESSORS_ONLN) * 1e6 / us : 0;
}

static void
s_compare (const char *what, const run_t *rabbit, const run_t *lantern)
{
    if (!rabbit->made || !lantern->made) {
        printf ("  %-32s (not measured)\n", what);
        return;
    }
    printf ("  %-32s RabbitMQ %7.0f/s  Lantern %7.0f/s  Lantern/RabbitMQ %.2f\n", what,
            rabbit->rate, lantern->rate, lantern->rate / rabbit->rate);
    if (rabbit->cpu_ok && lantern->cpu_ok)
        printf ("  %-32s CPU per message, server side: RabbitMQ %.0f us, Lantern %.0f us (node "
                "%.0f + PostgreSQL %.0f); clients: %.0f / %.0f us; all cores busy at that cost: "
                "%.0f/s and %.0f/s (%.2f)\n",
                "", rabbit->server, lantern->server + lantern->pg, lantern->server, lantern->pg,
                rabbit->clients, lantern->clients, s_ceiling (rabbit), s_ceiling (lantern),
                s_ceiling (rabbit) > 0 ? s_ceiling (lantern) / s_ceiling (rabbit) : 0);
}

int
main (int argc, char **argv)
{
    options_t o = {8.0, 64, NOTICE_MAX, 16, 2000, {true, false, true}, true, true};
    static const struct option options[] = {
        {"seconds", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"bytes", required_argument, NULL, 'b'},
        {"pipeline", required_argument, NULL, 'p'},
        {"credit", required_argument, NULL, 'k'},
        {"queue", required_argument, NULL, 'q'},
        {"only", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    long v;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (s_number (optarg, 1, 3600, &v) != 0)
                return 2;
            o.seconds = (double)v;
            break;
        case 'c':
            if (s_number (optarg, 1, 1000, &v) != 0)
                return 2;
            o.clients = (int)v;
            break;
        case 'b':
            if (s_number (optarg, HEADER_LEN + 1, NOTICE_MAX, &v) != 0)
                return 2;
            o.bytes = (int)v;
            break;
        case 'p':
            if (s_number (optarg, 0, WINDOW_MAX, &v) != 0)
                return 2;
            o.pipeline = v == 1 ? 0 : (int)v;
            break;
        case 'k':
            if (s_number (optarg, 2, LN_CONSUMER_CREDIT_MAX, &v) != 0)
                return 2;
            o.credit = (int)v;
            break;
        case 'q': {
            /* a comma-separated list of queue types */
            bool any = false;
            for (int q = 0; q < NQUEUES; q++)
                o.queues[q] = false;
            for (const char *t = optarg; *t;) {
                size_t len = strcspn (t, ",");
                int found = -1;
                for (int q = 0; q < NQUEUES; q++)
                    if (strlen (s_queue_names[q]) == len && strncmp (t, s_queue_names[q], len) == 0)
                        found = q;
                if (found < 0) {
                    s_usage ();
                    return 2;
                }
                o.queues[found] = any = true;
                t += len + (t[len] == ',');
            }
            if (!any) {
                s_usage ();
                return 2;
            }
            break;
        } break;
        case 'o':
            if (strcmp (optarg, "rabbitmq") != 0 && strcmp (optarg, "lantern") != 0) {
                s_usage ();
                return 2;
            }
            o.rabbit = strcmp (optarg, "rabbitmq") == 0;
            o.lantern = !o.rabbit;
            break;
        default:
            s_usage ();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        s_usage ();
        return 2;
    }

    /* progress as it happens, also into a file or a pipe */
    setvbuf (stdout, NULL, _IOLBF, 0);
    /* our own signal handling: every run stops, everything is cleaned up */
    zsys_init ();
    zsys_handler_set (NULL);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGHUP, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    const char *level = getenv ("LANTERN_BENCH_LOG");
    ln_log_level_t log_level = LN_LOG_ERROR;
    if (level && *level)
        ln_log_level_parse (level, &log_level);
    ln_log_init ("bench-broker", log_level);

    char busnode[PATH_MAX];
    const char *env_busnode = getenv ("LANTERN_BUSNODE");
    if (env_busnode && *env_busnode)
        snprintf (busnode, sizeof busnode, "%s", env_busnode);
    else {
        char self[PATH_MAX - 32];
        ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return 1;
        self[n] = '\0';
        char *slash = strrchr (self, '/');
        if (slash)
            *slash = '\0';
        snprintf (busnode, sizeof busnode, "%s/../progs/busnode", self);
    }
    if (o.lantern && access (busnode, X_OK) != 0) {
        fprintf (stderr, "bench_broker: busnode not found at %s\n", busnode);
        return 1;
    }

    struct utsname u;
    uname (&u);
    char command[512];
    size_t used = 0;
    for (int i = 0; i < argc && used < sizeof command; i++)
        used +=
            (size_t)snprintf (command + used, sizeof command - used, "%s%s", i ? " " : "", argv[i]);
    printf ("bench_broker: RabbitMQ and Lantern, %d publishers, %d-byte messages, %.0f s per "
            "publish run%s\n",
            o.clients, o.bytes, o.seconds, o.pipeline > 0 ? ", each also pipelined" : "");
    printf ("  machine: %s %s %s, %ld cores\n", u.sysname, u.release, u.machine,
            sysconf (_SC_NPROCESSORS_ONLN));

    side_t rabbit, lantern;
    memset (&rabbit, 0, sizeof rabbit);
    memset (&lantern, 0, sizeof lantern);
    broker_t broker;
    lantern_t l;
    bool have_broker = false, have_lantern = false;
    int rc = 1;
    if (o.rabbit) {
        printf ("\n== RabbitMQ: a private broker\n");
        if (s_broker_start (&broker) != 0)
            goto out;
        have_broker = true;
        snprintf (rabbit.version, sizeof rabbit.version, "%s", broker.version);
        printf ("  %s: node %s, AMQP 127.0.0.1:%d, distribution 127.0.0.1:%d, epmd "
                "127.0.0.1:%d, data and logs in %s%s\n",
                broker.version, broker.node, broker.amqp_port, broker.dist_port, broker.epmd_port,
                broker.dir, broker.drop ? " (run as user rabbitmq)" : "");
        if (s_broker_check_listeners (&broker) != 0)
            goto out;
    }
    if (o.lantern) {
        printf ("\n== Lantern: a throwaway PostgreSQL, a node (busnode) per run\n");
        if (s_lantern_setup (&l, lantern.version, sizeof lantern.version) != 0)
            goto out;
        have_lantern = true;
        printf ("  %s; PostNotice text of %d bytes\n", lantern.version, o.bytes);
    }

    /* Per window, the RabbitMQ queue types and Lantern one after the other,
       Lantern in the middle: each comparison is made with the machine
       (shared, noisy) in about the same state. */
    int nq = 0;
    for (int q = 0; q < NQUEUES; q++)
        nq += o.rabbit && o.queues[q];
    for (int w = 0; w < 2; w++) {
        int window = w == 0 ? 1 : o.pipeline;
        if (window < 1)
            continue;
        if (w == 0)
            printf ("\n== One message outstanding per publisher\n");
        else
            printf ("\n== Pipelined: %d messages outstanding per publisher\n", window);
        variant_t *lv = &lantern.v[0];
        bool lantern_done = !o.lantern;
        int done = 0;
        for (int q = 0; q < NQUEUES && o.rabbit; q++) {
            if (!o.queues[q])
                continue;
            variant_t *rv = &rabbit.v[q];
            if (s_stop ||
                s_rabbit_variant (&broker, &o, q, window, w ? &rv->publish_pipe : &rv->publish,
                                  w ? &rv->consume_pipe : &rv->consume) != 0)
                goto out;
            done++;
            if (!lantern_done && done == (nq + 1) / 2) {
                if (s_stop || s_lantern_variant (&l, &o, busnode, w + 1, window,
                                                 w ? &lv->publish_pipe : &lv->publish,
                                                 w ? &lv->consume_pipe : &lv->consume) != 0)
                    goto out;
                lantern_done = true;
            }
        }
        if (!lantern_done &&
            (s_stop || s_lantern_variant (&l, &o, busnode, w + 1, window,
                                          w ? &lv->publish_pipe : &lv->publish,
                                          w ? &lv->consume_pipe : &lv->consume) != 0))
            goto out;
    }
    /* the same check after the load: nothing else started listening */
    if (have_broker && s_broker_check_listeners (&broker) != 0)
        goto out;
    rc = 0;
out:
    if (have_broker)
        s_broker_stop (&broker);
    if (have_lantern)
        s_lantern_teardown (&l);
    if (s_stop) {
        fprintf (stderr, "bench_broker: interrupted; the broker and PostgreSQL are stopped and "
                         "their directories removed\n");
        rc = 1;
    }

    printf ("\n== Side by side (%s; Lantern on %s)\n", rabbit.version[0] ? rabbit.version : "-",
            lantern.version[0] ? lantern.version : "-");
    for (int q = 0; q < NQUEUES; q++) {
        if (!o.queues[q] || !o.rabbit)
            continue;
        const variant_t *r = &rabbit.v[q], *lv = &lantern.v[0];
        printf ("  -- RabbitMQ's %s\n", s_queue_labels[q]);
        s_compare ("publish, one outstanding each", &r->publish, &lv->publish);
        s_compare ("consume / stream", &r->consume, &lv->consume);
        if (o.pipeline > 0) {
            char what[64];
            snprintf (what, sizeof what, "publish, pipelined (%d each)", o.pipeline);
            s_compare (what, &r->publish_pipe, &lv->publish_pipe);
            s_compare ("consume / stream after it", &r->consume_pipe, &lv->consume_pipe);
        }
    }
    printf ("command: %s\n", command);
    return rc;
}
