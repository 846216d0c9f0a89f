/*  cpu_usage: CPU seconds used by the parts of a benchmark, for figures
    that hold on a shared, noisy machine: CPU per operation and per part
    (the node, PostgreSQL, the benchmark's own clients) rather than wall
    time alone.  Linux /proc; every function returns -1 when it cannot tell.
*/
#ifndef CPU_USAGE_H
#define CPU_USAGE_H

#include <sys/types.h>

/* User + system CPU seconds of this process (all its threads). */
double cpu_self (void);

/* User + system CPU seconds of process `pid` (all its threads). */
double cpu_pid (pid_t pid);

/* Read /proc/PID/stat: ppid, and user+system CPU in seconds of the process
   itself (self_cpu) and of its reaped children (child_cpu); any may be NULL.
   0 or -1. */
int cpu_proc_stat (long pid, long *ppid, double *self_cpu, double *child_cpu);

/* CPU seconds used so far by the PostgreSQL cluster in `cluster_dir` (a
   deploy/pg-local directory): the postmaster, its live children, and
   (through the postmaster's cumulative child times) those that exited. */
double cpu_pg_cluster (const char *cluster_dir);

/* CPU seconds the whole machine has been busy, all cores (/proc/stat). */
double cpu_machine_busy (void);

#endif
