/*  cpu_usage: see cpu_usage.h. */
#include "cpu_usage.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

double
cpu_self (void)
{
    struct rusage ru;
    if (getrusage (RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int
cpu_proc_stat (long pid, long *ppid, double *self_cpu, double *child_cpu)
{
    char path[64], buf[1024];
    snprintf (path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields start after
       the last ')'. */
    char *p = strrchr (buf, ')');
    if (!p)
        return -1;
    char state;
    long pp;
    unsigned long long ut, st;
    long long cut, cst;
    if (sscanf (p + 2, "%c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &state,
                &pp, &ut, &st, &cut, &cst) != 6)
        return -1;
    double tick = (double)sysconf (_SC_CLK_TCK);
    if (ppid)
        *ppid = pp;
    if (self_cpu)
        *self_cpu = (double)(ut + st) / tick;
    if (child_cpu)
        *child_cpu = (double)(cut + cst) / tick;
    return 0;
}

double
cpu_pid (pid_t pid)
{
    double cpu = 0;
    return pid > 0 && cpu_proc_stat ((long)pid, NULL, &cpu, NULL) == 0 ? cpu : -1;
}

double
cpu_pg_cluster (const char *cluster_dir)
{
    if (!cluster_dir)
        return -1;
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/data/postmaster.pid", cluster_dir);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    long postmaster = 0;
    if (fscanf (f, "%ld", &postmaster) != 1)
        postmaster = 0;
    fclose (f);
    double self_cpu = 0, child_cpu = 0;
    if (postmaster <= 0 || cpu_proc_stat (postmaster, NULL, &self_cpu, &child_cpu) != 0)
        return -1;
    double total = self_cpu + child_cpu;
    DIR *d = opendir ("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir (d))) {
        char *end = NULL;
        long pid = strtol (e->d_name, &end, 10);
        long ppid = 0;
        double cpu = 0;
        if (end == e->d_name || *end != '\0' || pid <= 0)
            continue;
        if (cpu_proc_stat (pid, &ppid, &cpu, NULL) == 0 && ppid == postmaster)
            total += cpu;
    }
    closedir (d);
    return total;
}

double
cpu_machine_busy (void)
{
    unsigned long long v[10] = {0};
    FILE *f = fopen ("/proc/stat", "r");
    if (!f)
        return -1;
    int n = fscanf (f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                    &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose (f);
    if (n < 8)
        return -1;
    /* user nice system [idle iowait] irq softirq steal (guest is in user) */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf (_SC_CLK_TCK);
}
