/*
** Process identity (see proc.h).
*/
#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long long proc_start_time(long long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* "PID (COMM) STATE f4 ... f22 ...": COMM may hold spaces and ')', so
    ** the fields start after the last ')'; count them from there. */
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    p++;
    char state = 0;
    for (int field = 3; field < 22 && *p; field++) {
        while (*p == ' ')
            p++;
        if (field == 3) state = *p;
        while (*p && *p != ' ')
            p++;
    }
    long long start = strtoll(p, NULL, 10);
    if (state == 'Z' || start <= 0) return 0;
    return start;
}

int proc_alive(long long pid, long long start) {
    long long now = proc_start_time(pid);
    return now > 0 && now == start;
}

void proc_host(char out[PROC_HOST_LEN]) {
    if (gethostname(out, PROC_HOST_LEN)) snprintf(out, PROC_HOST_LEN, "unknown");
    out[PROC_HOST_LEN - 1] = 0;
}
