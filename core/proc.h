/*
** Who a process is, for locks that must outlive a crash without being
** held by the dead: a pid alone can be reused by a new process, the pid
** with the process's start time cannot (Linux /proc).
*/
#ifndef QUILL_PROC_H
#define QUILL_PROC_H

#define PROC_HOST_LEN 256

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks
** after boot), or 0 when there is no such process or it is a zombie (it
** has ended; only its parent has not collected it yet). */
long long proc_start_time(long long pid);

/* Whether the process (pid, start time from proc_start_time) on this
** machine is still running: the pid is alive and started then. */
int proc_alive(long long pid, long long start);

/* This machine's name (gethostname; "unknown" when it has none) into
** out. */
void proc_host(char out[PROC_HOST_LEN]);

#endif
